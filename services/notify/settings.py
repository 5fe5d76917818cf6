from contracts.envelope import ServiceName
from services.common.settings import ServiceSettings

NotifySettings = ServiceSettings.for_service(ServiceName.NOTIFY)
