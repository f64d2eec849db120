"""``WS /v1/audio/speech/stream``: text streamed in, speech streamed out (the session is http.speech_socket)."""
from fastapi import APIRouter, WebSocket

from ..dependencies import AdmissionDep, SettingsDep, SocketSlotsDep, SpeechServiceDep
from ..http.speech_socket import SpeechSocket

router = APIRouter()


@router.websocket("/audio/speech/stream")
async def speech_stream(websocket: WebSocket, service: SpeechServiceDep, settings: SettingsDep,
                        slots: SocketSlotsDep, admission: AdmissionDep) -> None:
    await SpeechSocket(websocket, service, settings, slots, admission).serve()
