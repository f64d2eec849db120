"""Shared state for the routers, taken from the app that owns it (no module globals)."""
from fastapi import Request

from .core.config import Settings
from .inference.model_manager import ModelManager
from .inference.scheduler import InferenceScheduler
from .services.speech import SpeechService


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_manager(request: Request) -> ModelManager:
    return request.app.state.manager


def get_scheduler(request: Request) -> InferenceScheduler:
    return request.app.state.scheduler


def get_speech_service(request: Request) -> SpeechService:
    return request.app.state.speech
