module medallion-dev/nslookup

go 1.26
