# OCPP 1.6J: WebSocket client (ws), transaction journal (journal), RPC and handlers.
