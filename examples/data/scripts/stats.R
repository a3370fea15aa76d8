sales <- read.csv("/data/sales.csv")
totals <- aggregate(amount ~ region, data = sales, FUN = sum)
write.csv(totals[order(totals$region), ], "/outputs/totals.csv", row.names = FALSE)
