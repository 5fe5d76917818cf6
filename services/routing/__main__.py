from services.common.runner import serve
from services.routing.bootstrap import create_app
from services.routing.settings import RoutingSettings

serve(create_app, RoutingSettings)
