// analytics-refresh: wired by the analytics issue (13); replaced by the function owner.
import TMAnalytics
print("{\"error\":\"analytics-refresh is not built yet\"}")
