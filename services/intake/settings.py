from contracts.envelope import ServiceName
from services.common.settings import ServiceSettings

IntakeSettings = ServiceSettings.for_service(ServiceName.INTAKE)
