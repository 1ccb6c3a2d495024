"""Pull order numbers and dates out of ticket text, as JSON."""

import boto3
from langchain_anthropic import ChatAnthropic

from support_desk import config

bedrock = boto3.client("bedrock-runtime")


def extract_fields(text):
    return bedrock.converse(  # expect: OG102
        modelId="us.anthropic.claude-opus-4-1-20250805-v1:0",  # expect: OG101
        messages=[{"role": "user", "content": [{"text": text}]}],
        inferenceConfig={"maxTokens": 200, "temperature": 0},
    )


def extractor():
    return ChatAnthropic(model=config.MODELS_BY_ROLE["extractor"], max_tokens=300)  # expect: OG102
