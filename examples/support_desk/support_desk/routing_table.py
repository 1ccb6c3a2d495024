# Generated from opusguard.yaml by `opusguard policy sync`; do not edit.
POLICY_DIGEST = "hand-written for the example"
TASK_MODELS = {
    "contract-review": "claude-opus-4-5-20251101",
    "draft-reply": "claude-sonnet-4-5-20250929",
    "escalation-triage": "claude-haiku-4-5-20251001",
}
