from services.common.runner import serve
from services.hq.bootstrap import create_app
from services.hq.settings import HqSettings

serve(create_app, HqSettings)
