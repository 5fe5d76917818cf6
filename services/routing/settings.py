from contracts.envelope import ServiceName
from services.common.settings import ServiceSettings

RoutingSettings = ServiceSettings.for_service(ServiceName.ROUTING)
