"""agentkit: agents that see, remember and answer with a confidence they can back up."""
