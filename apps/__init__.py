"""The registry: the one ordered table of tasks (tabs) and their default and curated models.

Adding a task is one module in `apps/` plus one entry here. Nothing else names a default model.
"""

from __future__ import annotations

from apps import similarity, system
from apps.core.spec import ModelCard, TaskSpec

TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        key="similarity",
        title="Sentence similarity",
        group="Language",
        description="How close in meaning are these sentences? Cosine similarity of sentence embeddings.",
        api_names=("/similarity",),
        build=similarity.build_tab,
        load=similarity.load_sentence_transformer,
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
        key="system",
        title="System",
        description="Which model each task uses, what is loaded, and how much memory it takes.",
        api_names=("/status",),
        build=system.build_tab,
    ),
)

SPECS = {spec.key: spec for spec in TASKS}
