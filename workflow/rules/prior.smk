# Rules: prior
