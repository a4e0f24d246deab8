"""Call signaling: offers, answers, ICE servers and TURN credentials for WebRTC clients."""
