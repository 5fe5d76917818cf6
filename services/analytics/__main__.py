from services.analytics.bootstrap import create_app
from services.analytics.settings import AnalyticsSettings
from services.common.runner import serve

serve(create_app, AnalyticsSettings)
