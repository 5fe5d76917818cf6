from contracts.envelope import ServiceName
from services.common.settings import ServiceSettings

QualitySettings = ServiceSettings.for_service(ServiceName.QUALITY)
