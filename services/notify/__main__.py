from services.common.runner import serve
from services.notify.bootstrap import create_app
from services.notify.settings import NotifySettings

serve(create_app, NotifySettings)
