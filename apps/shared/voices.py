"""The text-to-speech voice for each language (data: speech translation and the Text to speech tab use it)."""

from __future__ import annotations

from apps.core.spec import ModelCard

# Text-to-speech voices by language: Meta's MMS-TTS, one VITS voice per language that reads letters (no
# phonemizer needed). Speech translation speaks its translation with the target language's voice; the
# Text to speech tab offers them all.
VOICES: dict[str, ModelCard] = {
    language: ModelCard(
        f"facebook/mms-tts-{code}", "36.3M", "145 MB", "CC-BY-NC-4.0", note=f"{language}, non-commercial"
    )
    for language, code in (
        ("English", "eng"),
        ("French", "fra"),
        ("German", "deu"),
        ("Spanish", "spa"),
        ("Portuguese", "por"),
        ("Dutch", "nld"),
        ("Polish", "pol"),
        ("Romanian", "ron"),
        ("Hungarian", "hun"),
        ("Finnish", "fin"),
        ("Turkish", "tur"),
        ("Indonesian", "ind"),
        ("Tagalog", "tgl"),
        ("Swahili", "swh"),
    )
}
