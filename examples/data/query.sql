SELECT region, sum(amount) AS total
FROM read_csv_auto('/data/sales.csv')
GROUP BY region
ORDER BY region;
