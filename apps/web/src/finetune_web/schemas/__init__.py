"""The API's pydantic models, one module per resource family (request bodies, query arguments, answers)."""
