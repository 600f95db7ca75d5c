"""Drivers of the netns data plane: namespaces, the fabric of bridges and veths, amphorae as
namespaces with an agent process. Root only; nothing here touches the root namespace's
addresses or routes."""
