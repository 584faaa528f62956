"""The ViPro gateway: auth, routing, assets, jobs and productions in front of the services."""
