"""Model licences: groups users filter by, and the clauses people trip over.

Groups follow the licences' own terms (read 2026-11): *permissive* (Apache-2.0, MIT, BSD: use, modify,
redistribute, commercial use); *copyleft* (GPL family, CC-BY-SA: derivatives under the same licence);
*restricted* (custom community or OpenRAIL licences: commercial use allowed with use-based restrictions or
conditions); *non-commercial* (research or CC-BY-NC terms). "other"/"unknown" are grouped as restricted:
read the model card before relying on them.
"""

from __future__ import annotations

from llmplan.errors import InvalidInputError

GROUPS: dict[str, frozenset[str]] = {
    "permissive": frozenset({"apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc-by-4.0", "unlicense",
                             "cc0-1.0", "openmdw"}),
    "copyleft": frozenset({"gpl-2.0", "gpl-3.0", "agpl-3.0", "lgpl-3.0", "cc-by-sa-4.0"}),
    "restricted": frozenset({"llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma",
                             "bigcode-openrail-m", "openrail", "openrail++", "creativeml-openrail-m", "deepseek",
                             "qwen", "falcon-180b-license", "tii-falcon-license", "other", "unknown", "yi-license",
                             "apple-ascl", "nvidia-open-model-license", "health-ai-developer-foundations",
                             "tongyi-qianwen", "glm-4", "modified-mit"}),
    "non-commercial": frozenset({"cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-nc-nd-4.0", "qwen-research", "mrl", "mnpl",
                                 "llama-research", "apple-sample-code-license"}),
}

# What users trip over, one line per licence (from each licence text).
CAVEATS: dict[str, str] = {
    "llama2": "Llama 2 Community License: a separate licence from Meta is needed above 700M monthly active users; "
              "acceptable-use policy applies",
    "llama3": "Meta Llama 3 Community License: 700M monthly-active-user clause; 'Built with Meta Llama 3' "
              "attribution; acceptable-use policy",
    "llama3.1": "Llama 3.1 Community License: 700M monthly-active-user clause; attribution; acceptable-use policy",
    "llama3.2": "Llama 3.2 Community License: 700M monthly-active-user clause; multimodal models not licensed "
                "to EU-domiciled users",
    "llama3.3": "Llama 3.3 Community License: 700M monthly-active-user clause; attribution; acceptable-use policy",
    "llama4": "Llama 4 Community License: 700M monthly-active-user clause; multimodal use restricted in the EU",
    "gemma": "Gemma Terms of Use: prohibited-use policy passes to derivatives and users",
    "qwen": "Qwen licence: commercial use above 100M monthly active users needs a licence from Alibaba",
    "qwen-research": "Qwen Research licence: non-commercial use only",
    "deepseek": "DeepSeek model licence: commercial use allowed, with use-based restrictions",
    "bigcode-openrail-m": "BigCode OpenRAIL-M: use-based restrictions pass to derivatives",
    "cc-by-nc-4.0": "CC BY-NC 4.0: non-commercial use only",
    "mrl": "Mistral Research License: non-commercial use only",
    "mnpl": "Mistral Non-Production License: no production or commercial use",
    "modified-mit": "modified MIT: large deployments must display the model's name (see the licence)",
    "other": "custom licence: read the model card",
    "unknown": "licence not stated on the Hub: read the model card",
}


def group_of(license_id: str) -> str:
    key = license_id.strip().lower()
    for group, ids in GROUPS.items():
        if key in ids:
            return group
    return "restricted" if key else "unknown"


def matches(license_id: str, query: str) -> bool:
    """True if the licence is one of the comma-separated ids or groups in ``query``."""
    wanted = [q.strip().lower() for q in query.split(",") if q.strip()]
    if not wanted:
        raise InvalidInputError("--license needs an id (apache-2.0, llama3.1, ...) or a group "
                                f"({', '.join(GROUPS)})")
    key = license_id.strip().lower()
    return any(w == key or w == group_of(key) for w in wanted)


def caveat(license_id: str) -> str:
    return CAVEATS.get(license_id.strip().lower(), "")
