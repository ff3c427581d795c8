import TMAnalytics
print("analytics-bench: not built yet")
