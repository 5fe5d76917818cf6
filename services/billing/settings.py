from contracts.envelope import ServiceName
from services.common.settings import ServiceSettings

BillingSettings = ServiceSettings.for_service(ServiceName.BILLING)
