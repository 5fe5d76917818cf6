from services.common.runner import serve
from services.billing.bootstrap import create_app
from services.billing.settings import BillingSettings

serve(create_app, BillingSettings)
