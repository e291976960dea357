# Rules: report
