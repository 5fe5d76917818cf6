from services.common.runner import serve
from services.console.bootstrap import create_app
from services.console.settings import ConsoleSettings

serve(create_app, ConsoleSettings)
