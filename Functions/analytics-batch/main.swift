// analytics-batch: wired by the analytics issue (13); replaced by the function owner.
import TMAnalytics
print("{\"error\":\"analytics-batch is not built yet\"}")
