"""Agents, chats and messages: foyergpt's, dualqueryintelligence's and crealia's assistant chat."""
