"""A hand-made bronze file that breaks every rule once, and the exact bytes the contract gives for it in silver,
rejects and gold."""

from pathlib import Path

# BOM, header names padded, mixed case and reordered, an extra column, a quoted comma and a quoted newline.
BRONZE = (
    "\ufeff Unit_Price ,ORDER_ID,order_date,Customer_ID,REGION,product,category,quantity,Notes\r\n"
    '19.99, A1 ,2024-01-15,C1,  nORTH ,Widget,Tools,2,"first, with comma"\r\n'
    '5, A2,2024-02-29,C2,south,"Gadget, large",Toys,3,"multi\nline note"\r\n'
    "1.005,A3,2024-03-01,C3,North,Thing,Misc,3,\r\n"
    "9.99,,2024-01-01,C4,East,X,Y,1,no id\r\n"
    "9.99,A4,2024-01-01,C4,  ,X,Y,1,no region\r\n"
    "9.99,A5,2023-02-29,C4,East,X,Y,1,not a leap year\r\n"
    "9.99,A6,2024-1-05,C4,East,X,Y,1,date shape\r\n"
    "9.99,A7,2024-01-05,C4,East,X,Y,0,zero quantity\r\n"
    "9.99,A8,2024-01-05,C4,East,X,Y,1.5,fractional quantity\r\n"
    "1.2.3,A9,2024-01-05,C4,East,X,Y,1,bad price\r\n"
    ".5,A10,2024-01-05,C4,East,X,Y,1,bad price\r\n"
    "9.99,A1,2024-01-05,C4,East,X,Y,1,duplicate of A1\r\n"
    "x,A2,bad,C4,,X,Y,x,region is the first failure\r\n"
    "9.99,A12,2024-02-30,C6,East,X,Y,1,rejected first\r\n"
    "10,A11,2024-12-31,C5,east,X,Y,007,\r\n"
    "9.99,A12,2024-01-01,C6,EAST,X,Y,1,survives: the earlier A12 was rejected\r\n"
)

SILVER = (
    "order_id,order_date,customer_id,region,product,category,quantity,unit_price,total_amount,order_month\n"
    "A1,2024-01-15,C1,North,Widget,Tools,2,19.99,39.98,2024-01\n"
    'A2,2024-02-29,C2,South,"Gadget, large",Toys,3,5,15.00,2024-02\n'
    "A3,2024-03-01,C3,North,Thing,Misc,3,1.005,3.02,2024-03\n"
    "A11,2024-12-31,C5,East,X,Y,007,10,70.00,2024-12\n"
    "A12,2024-01-01,C6,East,X,Y,1,9.99,9.99,2024-01\n"
)

REJECTS = (
    "order_id,order_date,customer_id,region,product,category,quantity,unit_price,source_row,reject_reason\n"
    ",2024-01-01,C4,East,X,Y,1,9.99,4,missing_order_id\n"
    "A4,2024-01-01,C4,,X,Y,1,9.99,5,missing_region\n"
    "A5,2023-02-29,C4,East,X,Y,1,9.99,6,invalid_order_date\n"
    "A6,2024-1-05,C4,East,X,Y,1,9.99,7,invalid_order_date\n"
    "A7,2024-01-05,C4,East,X,Y,0,9.99,8,invalid_quantity\n"
    "A8,2024-01-05,C4,East,X,Y,1.5,9.99,9,invalid_quantity\n"
    "A9,2024-01-05,C4,East,X,Y,1,1.2.3,10,invalid_unit_price\n"
    "A10,2024-01-05,C4,East,X,Y,1,.5,11,invalid_unit_price\n"
    "A1,2024-01-05,C4,East,X,Y,1,9.99,12,duplicate_order_id\n"
    "A2,bad,C4,,X,Y,x,x,13,missing_region\n"
    "A12,2024-02-30,C6,East,X,Y,1,9.99,14,invalid_order_date\n"
)

# East 70.00 + 9.99 = 79.99 over 2 orders -> 39.995 -> 40.00 (half up); North 39.98 + 3.02.
GOLD = (
    "region,orders,units,revenue,avg_order_value\nEast,2,8,79.99,40.00\nNorth,2,5,43.00,21.50\nSouth,1,3,15.00,15.00\n"
)


def write_bronze(root: Path, text: str) -> Path:
    path = root / "bronze" / "bronze_data.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path
