"""A second real client: LangChain's ChatOpenAI and OpenAIEmbeddings (langchain-openai from PyPI),
unmodified, against the rendered Worker in workerd. LangChain parses answers into its own message
types, so this checks the wire format from a client with its own expectations."""

from __future__ import annotations

import asyncio

import langchain_openai
import pytest


@pytest.fixture
def chat_factory(worker, api_key):
    def make(model: str, **kwargs):
        return langchain_openai.ChatOpenAI(
            model=model,
            base_url=worker.base_url,
            api_key=api_key,
            max_retries=0,
            timeout=20,
            **kwargs,
        )

    return make


@pytest.fixture
def embeddings(worker, api_key):
    # check_embedding_ctx_length=False: LangChain otherwise tokenizes with OpenAI's tokenizer and
    # sends token ids, which no Workers AI model reads (the Worker answers a 400 saying so).
    return langchain_openai.OpenAIEmbeddings(
        model="text-embedding-3-small",
        base_url=worker.base_url,
        api_key=api_key,
        check_embedding_ctx_length=False,
        max_retries=0,
    )


def test_chat_invoke_and_stream(chat_factory):
    chat = chat_factory("gpt-4o-mini")
    message = chat.invoke("hi")
    assert message.content == "Hello from @cf/google/gemma-4-26b-a4b-it."
    assert message.usage_metadata["input_tokens"] == 8
    streamed = "".join(chunk.content for chunk in chat.stream("hi"))
    assert streamed == message.content


def test_chat_tool_calls_parse_into_langchain_tool_calls(chat_factory):
    def get_vn_details(id: str) -> str:
        """Details of a visual novel by id."""
        return id

    chat = chat_factory("@cf/meta/llama-3.3-70b-instruct-fp8-fast").bind_tools([get_vn_details])
    message = chat.invoke("fixture:llama-native-tool-calls")
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("get_vn_details", {"id": "1054"})
    ]


def test_chat_through_the_responses_api(chat_factory):
    chat = chat_factory("gpt-4o", use_responses_api=True)
    message = chat.invoke("hi")
    assert message.text == "Hello from @cf/qwen/qwen3.8-27b."
    streamed = "".join(chunk.text for chunk in chat.stream("hi"))
    assert streamed == message.text


def test_reasoning_through_the_responses_api(chat_factory):
    chat = chat_factory("@cf/qwen/qwq-32b", use_responses_api=True)
    message = chat.invoke("fixture:qwq-think-tags")
    kinds = [block["type"] for block in message.content_blocks]
    assert "reasoning" in kinds and "text" in kinds
    assert "Rayleigh scattering" in message.text


def test_embed_documents_and_query(embeddings):
    docs = embeddings.embed_documents(["first document", "second document", "third"])
    assert len(docs) == 3 and all(len(v) == 768 for v in docs)
    query = embeddings.embed_query("first document")
    assert query == pytest.approx(docs[0], rel=1e-6)


def test_async_embeddings_with_batches_larger_than_one_call(worker, api_key):
    # chunk_size is LangChain's per-request batch; the Worker splits further to the model's limit.
    embeddings = langchain_openai.OpenAIEmbeddings(
        model="@cf/qwen/qwen3-embedding-0.6b",
        base_url=worker.base_url,
        api_key=api_key,
        check_embedding_ctx_length=False,
        chunk_size=100,
        max_retries=0,
    )
    texts = [f"passage {i}" for i in range(150)]
    vectors = asyncio.run(embeddings.aembed_documents(texts))
    assert len(vectors) == 150 and len(set(map(tuple, vectors))) == 150
    assert vectors[120] == pytest.approx(embeddings.embed_query("passage 120"), rel=1e-6)
