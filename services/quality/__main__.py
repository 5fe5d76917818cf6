from services.common.runner import serve
from services.quality.bootstrap import create_app
from services.quality.settings import QualitySettings

serve(create_app, QualitySettings)
