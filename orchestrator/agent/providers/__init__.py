"""Provider implementations of :class:`orchestrator.agent.llm_client.LLMClient` (private;
built by :func:`orchestrator.agent.factory.build_client`)."""
