# Rules: download
