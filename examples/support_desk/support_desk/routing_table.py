# Generated from opusguard.yaml by `opusguard policy sync`; edit the policy, not this file.
POLICY_DIGEST = "9a77d6ec2181244c"
TASK_MODELS = {
    "contract-review": "claude-opus-4-5-20251101",
    "draft-reply": "claude-sonnet-4-5-20250929",
    "escalation-triage": "claude-haiku-4-5-20251001",
}
