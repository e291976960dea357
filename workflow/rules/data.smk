# Rules: data
