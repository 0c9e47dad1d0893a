"""The registry: the one ordered table of tasks (tabs) and their default and curated models.

Nothing else names a default model or lists the tasks. Adding a task (the README's Development section
has the same checklist, and the tests name whatever is missing):

1. `apps/tasks/<task>.py`: its task function `run(ctx, <public parameters>, model=None, progress=None)`
   returning a result dataclass (no gradio), and `build_tab(ctx)` with `api_name=` on its event.
2. An entry here: key, title, group, description, `api_names`, `build`, `load` (tasks with the same loader
   and model share one loaded copy), `default` and `alternatives`, `pipeline_tag`, `run`, `takes`/`gives`,
   `examples` (files in assets/), and `requests`: one reference `Request` per endpoint naming every
   parameter in order (files as `Asset`s), which the bad-input matrix, the load test, the bench and the
   README check all send.
3. `tests/tiny/<group>.py` (a tiny checkpoint builder), `tests/test_<task>.py`, its answer check in
   `tests/reference_requests.py`, its bad inputs in `tests/test_bad_inputs.py`, a browser recipe in
   `tests/test_browser_tabs.py`, a bench case in `bench/cases.py` if it has a model.
4. README: a row in the Tabs table and an API example.
"""

from __future__ import annotations

from apps.core.spec import Answer, Asset, Kind, ModelCard, Request, TaskSpec
from apps.evals import arena, arena_tab, compare_tab
from apps.evals import compare as compare_task
from apps.evals import evaluate as evals_task
from apps.evals import tab as evals_tab
from apps.finder import tab as finder
from apps.finder import task as finder_task
from apps.finetune import tab as finetune
from apps.finetune import task as finetune_task
from apps.finetune import training as finetune_training
from apps.monitoring import dashboard as monitoring_dashboard
from apps.monitoring import tab as monitoring
from apps.pipelines import run as pipelines_run
from apps.pipelines import tab as pipelines
from apps.rag import tab as rag_tab
from apps.rag import task as rag_task
from apps.shared import chat_engine, clip, embeddings
from apps.shared.voices import VOICES
from apps.tasks import (
    asr,
    audio_classification,
    captioning,
    chat,
    depth,
    image_classification,
    image_search,
    matching,
    narration,
    search,
    segmentation,
    similarity,
    speech_translation,
    summarization,
    system,
    translation,
    tts,
    vqa,
)

TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        key="chat",
        title="Chat",
        group="Language",
        description="A multi-turn conversation with an instruction-tuned model; replies stream as they are written.",
        api_names=("/chat",),
        requests=(
            Request(
                "/chat",
                {
                    "message": "What is the capital of France?",
                    "history": [],
                    "system_prompt": "",
                    "max_new_tokens": 16,
                    "temperature": 0,
                    "top_p": 0.9,
                    "repetition_penalty": 1.0,
                    "model": "",
                    "json_schema": "",
                },
            ),
        ),
        build=chat.build_tab,
        code=chat.CODE,
        load=chat_engine.load_chat_model,
        run=chat.reply,
        stream=chat.stream_chat,  # the same reply, piece by piece
        takes=(Kind.TEXT,),
        gives=Kind.TEXT,
        pipeline_tag="text-generation",
        default=ModelCard("HuggingFaceTB/SmolLM2-360M-Instruct", "362M", "724 MB", "Apache-2.0"),
        alternatives=(
            ModelCard("HuggingFaceTB/SmolLM2-135M-Instruct", "135M", "269 MB", "Apache-2.0", note="fastest"),
            ModelCard("HuggingFaceTB/SmolLM2-1.7B-Instruct", "1.71B", "3.42 GB", "Apache-2.0", note="best answers"),
            ModelCard("Qwen/Qwen2.5-0.5B-Instruct", "494M", "988 MB", "Apache-2.0", note="29+ languages"),
            # GGUF Q4_K_M files: on llama.cpp (SHOWCASE_GGUF_ENGINE) a 1-2B model answers at reading speed on 2 vCPUs.
            ModelCard(
                "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
                "1.54B",
                "1.12 GB",
                "Apache-2.0",
                note="GGUF Q4_K_M for llama.cpp, 29+ languages",
                gguf_file="qwen2.5-1.5b-instruct-q4_k_m.gguf",
            ),
            ModelCard(
                "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF",
                "1.71B",
                "1.06 GB",
                "Apache-2.0",
                note="GGUF Q4_K_M for llama.cpp",
                gguf_file="smollm2-1.7b-instruct-q4_k_m.gguf",
            ),
            ModelCard(
                "bartowski/Llama-3.2-1B-Instruct-GGUF",
                "1.24B",
                "808 MB",
                "Llama 3.2 Community",
                note="GGUF Q4_K_M for llama.cpp",
                gguf_file="Llama-3.2-1B-Instruct-Q4_K_M.gguf",
            ),
        ),
    ),
    TaskSpec(
        key="translation",
        title="Translation",
        group="Language",
        description="Translate text between languages chosen by name; long text is split into sentences and "
        "translated whole. Or let the chat model translate.",
        api_names=("/translate",),
        requests=(
            Request(
                "/translate",
                {
                    "text": "Hello world.",
                    "source_language": "English",
                    "target_language": "French",
                    "engine": translation.TRANSLATION_MODEL,
                    "model": "",
                },
            ),
        ),
        build=translation.build_tab,
        code=translation.CODE,
        load=translation.load_translation,
        run=translation.translate,
        takes=(Kind.TEXT,),
        gives=Kind.TEXT,
        pipeline_tag="translation",
        default=ModelCard(
            "facebook/nllb-200-distilled-600M", "615M", "2.46 GB", "CC-BY-NC-4.0", note="200 languages, non-commercial"
        ),
        alternatives=(
            ModelCard("facebook/m2m100_418M", "484M", "1.94 GB", "MIT", note="100 languages"),
            ModelCard("Helsinki-NLP/opus-mt-en-fr", "75.1M", "301 MB", "Apache-2.0", note="English → French only"),
            ModelCard("Helsinki-NLP/opus-mt-en-de", "73.9M", "298 MB", "Apache-2.0", note="English → German only"),
            ModelCard("Helsinki-NLP/opus-mt-en-es", "77.9M", "312 MB", "Apache-2.0", note="English → Spanish only"),
        ),
    ),
    TaskSpec(
        key="summarization",
        title="Summarization",
        group="Language",
        description="Summarize a document of any length: long ones are summarized in chunks, then the "
        "summaries are summarized.",
        api_names=("/summarize",),
        requests=(
            Request(
                "/summarize",
                {
                    "text": "The council approved a plan to turn the old railway line into a park. "
                    "Work starts next spring and should take two years.",
                    "min_tokens": 5,
                    "max_tokens": 30,
                    "model": "",
                },
            ),
        ),
        build=summarization.build_tab,
        code=summarization.CODE,
        load=summarization.load_summarization,
        run=summarization.summarize,
        takes=(Kind.TEXT,),
        gives=Kind.TEXT,
        pipeline_tag="summarization",
        default=ModelCard("sshleifer/distilbart-cnn-12-6", "306M", "1.22 GB", "Apache-2.0", note="news style"),
        alternatives=(ModelCard("facebook/bart-large-cnn", "406M", "1.63 GB", "MIT", note="news style"),),
    ),
    TaskSpec(
        key="similarity",
        title="Sentence similarity",
        group="Language",
        description="How close in meaning are these sentences? Cosine similarity of sentence embeddings.",
        api_names=("/similarity",),
        requests=(
            Request("/similarity", {"sentences": "A cat sits on the mat.\nA kitten is sitting on a rug.", "model": ""}),
        ),
        build=similarity.build_tab,
        code=similarity.CODE,
        load=embeddings.load_sentence_transformer,
        run=similarity.similarity,
        takes=(Kind.TEXT,),
        gives=Kind.TABLE,
        pipeline_tag="sentence-similarity",
        default=ModelCard("sentence-transformers/all-MiniLM-L6-v2", "22.7M", "91 MB", "Apache-2.0"),
        alternatives=(
            ModelCard("sentence-transformers/all-mpnet-base-v2", "109M", "438 MB", "Apache-2.0"),
            ModelCard(
                "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
                "118M",
                "471 MB",
                "Apache-2.0",
                note="50+ languages",
            ),
        ),
    ),
    TaskSpec(
        key="search",
        title="Semantic search",
        group="Language",
        description="Find the passages of a corpus closest in meaning to a query (embeddings, cosine similarity).",
        api_names=("/search",),
        requests=(
            Request(
                "/search",
                {
                    "query": "Which passage is about a pet?",
                    "corpus": "A cat sleeps on the sofa.\nThe stock market closed higher.",
                    "corpus_file": None,
                    "top_k": 1,
                    "model": "",
                },
            ),
        ),
        build=search.build_tab,
        code=search.CODE,
        load=embeddings.load_sentence_transformer,  # shared with similarity: one loaded model when both agree
        run=search.search,
        takes=(Kind.TEXT, Kind.TEXT),  # the query, the corpus
        gives=Kind.TABLE,
        pipeline_tag="sentence-similarity",
        default=ModelCard("sentence-transformers/all-MiniLM-L6-v2", "22.7M", "91 MB", "Apache-2.0"),
        alternatives=(
            ModelCard(
                "sentence-transformers/multi-qa-MiniLM-L6-cos-v1",
                "22.7M",
                "91 MB",
                "Apache-2.0",
                note="trained on questions",
            ),
            ModelCard("sentence-transformers/all-mpnet-base-v2", "109M", "438 MB", "Apache-2.0"),
        ),
    ),
    TaskSpec(
        key="rag",
        title="Documents",
        group="Language",
        description="Chat with your documents: add files to a collection, ask, and get an answer with numbered "
        "citations. Hybrid retrieval (BM25 + embeddings, fused), optional reranking, and every step shown.",
        api_names=("/rag_ask", "/rag_add", "/rag_documents", "/rag_remove"),
        requests=(
            Request(
                "/rag_ask",
                {
                    "question": "What is the office Wi-Fi password?",
                    "history": [],
                    "collection": "handbook",  # its own collection: /rag_add and /rag_remove change "reference"
                    "top_k": 2,
                    "rerank": False,
                    "model": "",
                },
            ),
            Request(
                "/rag_add",
                {"files": [Asset("rag_handbook.md")], "text": "", "collection": "reference"},
            ),
            Request("/rag_documents", {"collection": "reference"}),
            Request("/rag_remove", {"document": "rag_handbook.md", "collection": "reference"}),
        ),
        build=rag_tab.build_tab,
        run=rag_task.rag_ask,  # rag_task.stream_ask streams it; rag_add, rag_documents, rag_remove manage collections
        takes=(Kind.TEXT,),
        gives=Kind.TEXT,
        uses=("similarity", "chat", "rerank"),
        examples=("rag_handbook.md",),
    ),
    TaskSpec(
        key="rerank",
        title="Reranking",
        group="Language",
        description="Order passages by relevance to a query with a cross-encoder: the Documents tab's reranker.",
        api_names=("/rerank",),
        requests=(
            Request(
                "/rerank",
                {
                    "query": "Which passage is about a pet?",
                    "passages": "The market rose.\nMy cat sleeps all day.",
                    "model": "",
                },
            ),
        ),
        build=rag_tab.build_rerank_tab,
        load=rag_task.load_cross_encoder,
        run=rag_task.rerank,
        code=rag_task.RERANK_CODE,
        takes=(Kind.TEXT, Kind.TEXT),
        gives=Kind.TABLE,
        pipeline_tag="text-ranking",
        default=ModelCard("cross-encoder/ms-marco-MiniLM-L6-v2", "22.7M", "91 MB", "Apache-2.0"),
        alternatives=(
            ModelCard("cross-encoder/ms-marco-TinyBERT-L2-v2", "4.39M", "17.6 MB", "Apache-2.0", note="fastest"),
            ModelCard("BAAI/bge-reranker-base", "278M", "1.11 GB", "MIT", note="multilingual"),
        ),
    ),
    # -- Audio -----------------------------------------------------------------------------------
    TaskSpec(
        key="asr",
        title="Speech recognition",
        group="Audio",
        description="Speech to text with Whisper: any length (heard in 30 s windows), optional timestamps; "
        "multilingual models also name the language or translate into English.",
        api_names=("/transcribe",),
        requests=(
            Request(
                "/transcribe",
                {
                    "audio": Asset("audio-speech-en.wav"),
                    "language": "",
                    "task": "transcribe",
                    "timestamps": True,
                    "model": "",
                },
            ),
        ),
        build=asr.build_tab,
        code=asr.CODE,
        load=asr.load_asr,
        pipeline_tag="automatic-speech-recognition",
        default=ModelCard("distil-whisper/distil-small.en", "166M", "332 MB", "MIT", note="English only"),
        alternatives=(
            ModelCard("openai/whisper-tiny", "37.8M", "151 MB", "Apache-2.0", note="multilingual, translates"),
            ModelCard("openai/whisper-base", "72.6M", "290 MB", "Apache-2.0", note="multilingual, translates"),
        ),
        examples=("audio-speech-en.wav",),
        run=asr.transcribe,
        takes=(Kind.AUDIO,),
        gives=Kind.TEXT,
    ),
    TaskSpec(
        key="tts",
        title="Text to speech",
        group="Audio",
        description="Text to speech with a VITS voice, sentence by sentence; play or download the WAV.",
        api_names=("/speak",),
        requests=(
            Request("/speak", {"text": "Open models can speak. This sentence was made by one of them!", "model": ""}),
        ),
        build=tts.build_tab,
        code=tts.CODE,
        load=tts.load_tts,
        pipeline_tag="text-to-speech",
        # MMS voices read letters, so they need nothing beyond pip; vits-ljs reads phonemes (phonemizer +
        # the espeak-ng system package, both installed by requirements.txt and packages.txt).
        default=VOICES["English"],
        alternatives=(
            ModelCard("kakao-enterprise/vits-ljs", "36.3M", "145 MB", "MIT", note="English; needs espeak-ng"),
            *(card for language, card in VOICES.items() if language != "English"),
        ),
        run=tts.synthesize,
        takes=(Kind.TEXT,),
        gives=Kind.AUDIO,
    ),
    TaskSpec(
        key="audio_classification",
        title="Zero-shot audio classification",
        group="Audio",
        description="Which of your labels describes this sound? CLAP compares the sound with each label, no training.",
        api_names=("/classify_audio",),
        requests=(
            Request(
                "/classify_audio",
                {"audio": Asset("audio-chime.flac"), "labels": "a chime, rain, a person speaking", "model": ""},
            ),
        ),
        build=audio_classification.build_tab,
        code=audio_classification.CODE,
        load=audio_classification.load_clap,
        pipeline_tag="zero-shot-audio-classification",
        default=ModelCard("laion/clap-htsat-unfused", "153M", "615 MB", "Apache-2.0"),
        examples=("audio-chime.flac", "audio-rain.ogg", "audio-speech-en.wav"),
        run=audio_classification.classify_audio,
        takes=(Kind.AUDIO,),
        gives=Kind.LABELS,
    ),
    TaskSpec(
        key="speech_translation",
        title="Speech translation",
        group="Audio",
        description="Speech in one language → transcript → translation → speech in another, with the speech "
        "recognition, translation and text-to-speech tabs' models; each step is shown.",
        api_names=("/speech_translate",),
        requests=(
            Request(
                "/speech_translate",
                {
                    "audio": Asset("audio-speech-en.wav"),
                    "source_language": "English",
                    "target_language": "French",
                    "asr_model": "",
                },
            ),
        ),
        build=speech_translation.build_tab,
        uses=("asr", "translation", "tts"),
        examples=("audio-speech-en.wav",),
        run=speech_translation.speech_translate,
        takes=(Kind.AUDIO,),
        gives=Kind.AUDIO,
    ),
    # -- Vision ----------------------------------------------------------------------------------
    TaskSpec(
        key="narration",
        title="Image narration",
        group="Vision",
        description="What is in this picture? Objects are detected and boxed, then named in one sentence, "
        "read aloud by the text-to-speech task's voice.",
        api_names=("/narrate",),
        requests=(
            Request("/narrate", {"image": Asset("vision-cat.jpg"), "threshold": 0.5, "speak": False, "model": ""}),
        ),
        build=narration.build_tab,
        code=narration.CODE,
        uses=("tts",),
        load=narration.load_detector,
        run=narration.narrate,  # speaks through ctx.run_task("tts")
        takes=(Kind.IMAGE,),
        gives=Kind.TEXT,  # the sentence (also: the boxed image, the detections, its speech)
        pipeline_tag="object-detection",
        default=ModelCard("hustvl/yolos-tiny", "6.5M", "26 MB", "Apache-2.0", note="80 COCO object kinds"),
        alternatives=(
            ModelCard("PekingU/rtdetr_r18vd", "20.2M", "81 MB", "Apache-2.0", note="RT-DETR, more accurate"),
            ModelCard(
                "facebook/detr-resnet-50",
                "41.6M",
                "167 MB",
                "Apache-2.0",
                note="the course's DETR, at its `no_timm` revision: its main revision needs timm, "
                "which pulls in torchvision",
                revision="no_timm",
            ),
        ),
        examples=narration.EXAMPLES,
    ),
    TaskSpec(
        key="segmentation",
        title="Segmentation",
        group="Vision",
        description="Click on an object to cut it out: + points on the object, − points on what is not. "
        "The image is encoded once; each further click only runs SAM's small mask decoder.",
        api_names=("/segment",),
        requests=(
            Request(
                "/segment",
                {"image": Asset("vision-shapes.png"), "points": [[110, 190, 1]], "mask_index": 0, "model": ""},
            ),
        ),
        build=segmentation.build_tab,
        code=segmentation.CODE,
        load=segmentation.load_segmenter,
        run=segmentation.segment,
        takes=(Kind.IMAGE, Kind.TABLE),  # the image, its points [x, y, label]
        gives=Kind.IMAGE,  # the mask (also: every candidate's score)
        pipeline_tag="mask-generation",
        default=ModelCard("Zigeng/SlimSAM-uniform-77", "9.7M", "38.9 MB", "Apache-2.0", note="SAM pruned to 1.4 %"),
        alternatives=(ModelCard("facebook/sam-vit-base", "93.7M", "375 MB", "Apache-2.0", note="the original SAM"),),
        examples=segmentation.EXAMPLES,
    ),
    TaskSpec(
        key="depth",
        title="Depth estimation",
        group="Vision",
        description="How far away is each part of the picture? A relative depth map (bright = near), "
        "and the raw values as a 16-bit PNG.",
        api_names=("/depth",),
        requests=(Request("/depth", {"image": Asset("vision-street.png"), "model": ""}),),
        build=depth.build_tab,
        code=depth.CODE,
        load=depth.load_depth_estimator,
        run=depth.estimate_depth,
        takes=(Kind.IMAGE,),
        gives=Kind.IMAGE,  # the colour-mapped depth map (also: the 16-bit map and its range)
        pipeline_tag="depth-estimation",
        default=ModelCard("depth-anything/Depth-Anything-V2-Small-hf", "24.8M", "99.2 MB", "Apache-2.0"),
        alternatives=(ModelCard("Intel/dpt-hybrid-midas", "123M", "490 MB", "Apache-2.0", note="DPT, MiDaS 3.0"),),
        examples=depth.EXAMPLES,
    ),
    # -- Multimodal ------------------------------------------------------------------------------
    TaskSpec(
        key="vqa",
        title="Visual question answering",
        group="Multimodal",
        description="Ask a question about an image and get a short answer.",
        api_names=("/answer",),
        requests=(
            Request(
                "/answer", {"image": Asset("mm-stop-sign.png"), "question": "What does the sign say?", "model": ""}
            ),
        ),
        build=vqa.build_tab,
        code=vqa.CODE,
        load=vqa.load_vqa_pipeline,
        run=vqa.answer,
        takes=(Kind.IMAGE, Kind.TEXT),
        gives=Kind.TEXT,
        pipeline_tag="visual-question-answering",
        default=ModelCard("Salesforce/blip-vqa-base", "385M", "1.54 GB", "BSD-3-Clause"),
        alternatives=(
            ModelCard(
                "dandelin/vilt-b32-finetuned-vqa",
                "118M",
                "470 MB",
                "Apache-2.0",
                note="picks one of 3,129 common answers, with its confidence",
            ),
        ),
        examples=tuple(name for name, _ in vqa.EXAMPLES),
    ),
    TaskSpec(
        key="captioning",
        title="Image captioning",
        group="Multimodal",
        description="A one-sentence description of an image; optionally, words the caption should start with.",
        api_names=("/caption",),
        requests=(Request("/caption", {"image": Asset("mm-sunset.png"), "prefix": "", "model": ""}),),
        build=captioning.build_tab,
        code=captioning.CODE,
        load=captioning.load_captioner,
        run=captioning.caption,
        takes=(Kind.IMAGE,),
        gives=Kind.TEXT,
        pipeline_tag="image-text-to-text",
        default=ModelCard("Salesforce/blip-image-captioning-base", "247M", "990 MB", "BSD-3-Clause"),
        alternatives=(ModelCard("Salesforce/blip-image-captioning-large", "470M", "1.88 GB", "BSD-3-Clause"),),
        examples=tuple(name for name, _ in captioning.EXAMPLES),
    ),
    TaskSpec(
        key="matching",
        title="Image–text matching",
        group="Multimodal",
        description="How likely is it that each text describes the image? BLIP's image–text matching head.",
        api_names=("/match",),
        requests=(
            Request("/match", {"image": Asset("mm-apple.png"), "texts": "a red apple\na green car", "model": ""}),
        ),
        build=matching.build_tab,
        code=matching.CODE,
        load=matching.load_matcher,
        run=matching.match,
        takes=(Kind.IMAGE, Kind.TEXT),
        gives=Kind.TABLE,
        pipeline_tag="image-text-to-text",
        default=ModelCard("Salesforce/blip-itm-base-coco", "224M", "895 MB", "BSD-3-Clause"),
        alternatives=(
            ModelCard("Salesforce/blip-itm-large-coco", "446M", "1.78 GB", "BSD-3-Clause"),
            ModelCard("Salesforce/blip-itm-base-flickr", "224M", "895 MB", "BSD-3-Clause"),
        ),
        examples=tuple(name for name, _ in matching.EXAMPLES),
    ),
    TaskSpec(
        key="image_search",
        title="Image search",
        group="Multimodal",
        description="Describe what you are looking for: the example images and your own are ranked by CLIP.",
        api_names=("/image_search",),
        requests=(
            Request(
                "/image_search",
                {"query": "a red apple", "images": [Asset("mm-apple.png")], "include_examples": True, "model": ""},
            ),
        ),
        build=image_search.build_tab,
        code=image_search.CODE,
        load=clip.load_clip,  # shared with image_classification: one loaded model when both use the same
        run=image_search.image_search,
        takes=(Kind.TEXT, Kind.IMAGE),  # the query, the images to rank
        gives=Kind.TABLE,
        pipeline_tag="zero-shot-image-classification",
        default=ModelCard("openai/clip-vit-base-patch32", "151M", "605 MB", "MIT"),
        alternatives=(ModelCard("openai/clip-vit-large-patch14", "428M", "1.71 GB", "MIT"),),
        examples=image_search.GALLERY_EXAMPLES,
    ),
    TaskSpec(
        key="image_classification",
        title="Zero-shot image classification",
        group="Multimodal",
        description="Classify an image into labels you choose, with no training: CLIP compares it with each label.",
        api_names=("/classify_image",),
        requests=(
            Request(
                "/classify_image",
                {"image": Asset("mm-apple.png"), "labels": "apple, banana, car", "template": "", "model": ""},
            ),
        ),
        build=image_classification.build_tab,
        code=image_classification.CODE,
        load=clip.load_clip,
        run=image_classification.classify_image,
        takes=(Kind.IMAGE, Kind.TEXT),  # the image, its candidate labels
        gives=Kind.LABELS,
        pipeline_tag="zero-shot-image-classification",
        default=ModelCard("openai/clip-vit-base-patch32", "151M", "605 MB", "MIT"),
        alternatives=(ModelCard("openai/clip-vit-large-patch14", "428M", "1.71 GB", "MIT"),),
        examples=tuple(name for name, _, _ in image_classification.EXAMPLES),
    ),
    TaskSpec(
        key="pipelines",
        title="Pipelines",
        description="Chain tasks into your own app: each step's output (text, audio, image) is the next step's "
        "input; build, run, save and load pipelines, or start from an example.",
        api_names=("/run_pipeline",),
        requests=(
            Request(
                "/run_pipeline",
                {
                    "spec": '{"name": "caption-translate-speak", "input": "image", "steps": [{"task": "captioning"}, '
                    '{"task": "translation", "target_language": "French"}, {"task": "tts"}]}',
                    "text": "",
                    "audio": None,
                    "image": Asset("mm-sunset.png"),
                },
            ),
        ),
        build=pipelines.build_tab,
        run=pipelines_run.run_pipeline,  # yields the run after each step; no `takes`: a pipeline is not a step
        uses=("captioning", "translation", "tts", "asr", "summarization", "chat", "narration"),
        examples=("mm-sunset.png", "audio-speech-en.wav"),
    ),
    TaskSpec(
        key="finder",
        title="Model finder",
        group="Models",
        description=(
            "Find open models on the Hub by task, ranking and memory; estimate what a model needs "
            "before downloading it; use a found model in the tab that runs its task."
        ),
        api_names=("/find_models", "/estimate_memory"),
        build=finder.build_tab,
        run=finder_task.find_models,  # finder_task.estimate_memory answers /estimate_memory
        takes=(Kind.TEXT,),
        gives=Kind.TABLE,
        requests=(
            Request(
                "/find_models",
                {
                    "task": "any",
                    "query": "",
                    "sort": "downloads",
                    "max_memory": "",
                    "precision": "float16",
                    "licence": "any",
                    "library": "any",
                    "limit": 5,
                },
            ),
            # The similarity tab's default model, read from the Hub (or the cache); the tests, offline, ask
            # about a tiny local model instead.
            Request(
                "/estimate_memory",
                {"model": "sentence-transformers/all-MiniLM-L6-v2", "context_length": 4096, "batch_size": 1},
            ),
        ),
    ),
    TaskSpec(
        key="evals",
        title="Evaluate",
        group="Evals",
        description="Measure models on a dataset with the task's metric: 95 % bootstrap intervals, every "
        "example, results saved and downloadable.",
        api_names=("/evaluate",),
        build=evals_tab.build_tab,
        run=evals_task.evaluate,  # calls the evaluated task's function through ctx.run_task
        takes=(Kind.TEXT,),
        gives=Kind.TABLE,
        examples=tuple(f"evals/{spec.sample}" for spec in evals_task.EVAL_TASKS.values()),
        requests=(
            Request(
                "/evaluate",
                {"task": "similarity", "dataset": Asset("evals/similarity.csv"), "models": "", "limit": 4},
            ),
        ),
    ),
    TaskSpec(
        key="compare",
        title="Compare",
        group="Evals",
        description="One input, 2–4 models of a task, side by side: each output with its load time, run time, "
        "memory and tokens/s; the address keeps the form, to share it.",
        api_names=("/compare",),
        build=compare_tab.build_tab,
        run=compare_task.compare,  # calls the compared task's function through ctx.run_task
        gives=Kind.TABLE,
        requests=(
            Request(
                "/compare",
                {
                    "task": "similarity",
                    "models": "default\nsentence-transformers/all-mpnet-base-v2",
                    "text": "A cat sits on the mat.\nA kitten rests on a rug.\nThe stock market fell today.",
                    "audio": None,
                    "image": None,
                },
            ),
        ),
    ),
    TaskSpec(
        key="arena",
        title="Arena",
        group="Evals",
        description="Two anonymous chat models answer the same prompt side by side; vote for the better one, "
        "then see who they were. Every vote feeds an Elo leaderboard with 95 % intervals.",
        api_names=("/arena_battle", "/arena_vote", "/arena_board"),
        requests=(
            Request("/arena_battle", {"prompt": "What is the capital of France?", "models": "", "max_new_tokens": 16}),
            # The battle id exists only once /arena_battle has answered: the vote takes it from that answer.
            Request("/arena_vote", {"battle": Answer("/arena_battle", 0), "choice": "A"}),
            Request("/arena_board", {}),
        ),
        build=arena_tab.build_tab,
        run=arena.battle,  # yields both answers as they stream; arena.vote and arena.board answer the others
        uses=("chat",),
        takes=(Kind.TEXT,),
        gives=Kind.TEXT,
    ),
    TaskSpec(
        key="finetune",
        title="Fine-tune",
        group="Language",
        description="Teach a chat model new answers with a LoRA adapter: check a dataset, train with a live loss "
        "chart, then chat with the result as `BASE+adapter:NAME`.",
        api_names=("/finetune", "/finetune_status", "/finetune_stop"),
        requests=(
            Request(
                "/finetune",
                {
                    "model": "",
                    "dataset": Asset("finetune-fact.jsonl"),
                    "name": "reference-adapter",
                    "steps": 2,
                    "learning_rate": 0.002,
                    "lora_r": 4,
                    "lora_alpha": 8,
                    "max_length": 128,
                    "batch_size": 1,
                    "dataset_id": "",
                    "epochs": 0,
                    "gradient_accumulation": 1,
                    "lora_dropout": 0.05,
                    "target_modules": "all-linear",
                    "validation_fraction": 0.2,
                    "seed": 0,
                    "long_rows": "truncate",
                },
            ),
            Request("/finetune_status", {}),
            Request("/finetune_stop", {}),
        ),
        build=finetune.build_tab,
        # Its own loader: the trained copy is changed in place by peft, so it is never the Chat tab's copy.
        load=finetune_training.load_trainable,
        run=finetune_task.finetune,
        uses=("chat",),
        takes=(Kind.TEXT,),
        gives=Kind.TABLE,
        examples=("finetune-fact.jsonl",),
        # The base it trains by default is the Chat tab's model (apps/finetune/task.py `base_model`); this
        # card is the chat default, for the model lists and `python app.py download finetune`.
        default=ModelCard("HuggingFaceTB/SmolLM2-360M-Instruct", "362M", "724 MB", "Apache-2.0"),
        pipeline_tag="text-generation",
    ),
    TaskSpec(
        key="system",
        title="System",
        description="Which model each task uses, what is loaded, and how much memory it takes.",
        api_names=("/status", "/code"),
        build=system.build_tab,
        run=system.status,  # /code (any task's "Use it in code") is apps/ui/code_panel.py's
        gives=Kind.TABLE,
        requests=(Request("/status", {}), Request("/code", {"task": "translation"})),
    ),
    TaskSpec(
        key="monitoring",
        title="Monitoring",
        description="Live requests per second, p50/p95 latency and errors per endpoint, memory against the budget, "
        "model loads and evictions, and the last errors (the numbers `/metrics` serves to Prometheus).",
        api_names=(),  # the page's plots only; Prometheus scrapes GET /metrics
        build=monitoring.build_tab,
        run=monitoring_dashboard.dashboard,
    ),
)

SPECS = {spec.key: spec for spec in TASKS}
DEFAULT_MODELS = {spec.key: spec.default.ref for spec in TASKS if spec.default is not None}
