"""Shared state for the routers, taken from the app that owns it (no module globals).

Routers name what they need with the ``Annotated`` aliases (``service: SpeechServiceDep``); the objects
themselves are built once in the composition root (``main.create_app``) and kept on ``app.state``.
"""
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from .core.config import Settings
from .http.admission import Admission
from .http.speech_socket import SocketSlots
from .inference.model_manager import ModelManager
from .inference.scheduler import InferenceScheduler
from .services.download_links import DownloadStore
from .services.speech import SpeechService
from .services.voice_combine import VoiceCombiner


def get_settings(request: HTTPConnection) -> Settings:
    return request.app.state.settings


def get_manager(request: HTTPConnection) -> ModelManager:
    return request.app.state.manager


def get_scheduler(request: HTTPConnection) -> InferenceScheduler:
    return request.app.state.scheduler


def get_speech_service(request: HTTPConnection) -> SpeechService:
    return request.app.state.speech


def get_download_store(request: HTTPConnection) -> DownloadStore:
    return request.app.state.downloads


def get_voice_combiner(request: HTTPConnection) -> VoiceCombiner:
    return request.app.state.voice_combiner


def get_socket_slots(request: HTTPConnection) -> SocketSlots:
    return request.app.state.socket_slots


def get_admission(request: HTTPConnection) -> Admission:
    return request.app.state.admission


SettingsDep = Annotated[Settings, Depends(get_settings)]
ManagerDep = Annotated[ModelManager, Depends(get_manager)]
SchedulerDep = Annotated[InferenceScheduler, Depends(get_scheduler)]
SpeechServiceDep = Annotated[SpeechService, Depends(get_speech_service)]
DownloadStoreDep = Annotated[DownloadStore, Depends(get_download_store)]
VoiceCombinerDep = Annotated[VoiceCombiner, Depends(get_voice_combiner)]
SocketSlotsDep = Annotated[SocketSlots, Depends(get_socket_slots)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]
