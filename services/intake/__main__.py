from services.common.runner import serve
from services.intake.bootstrap import create_app
from services.intake.settings import IntakeSettings

serve(create_app, IntakeSettings)
