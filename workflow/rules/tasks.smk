# Rules: tasks
