INSERT INTO erp.products (sku, name, description, unit_price, currency) VALUES
    ('INO-EDGE-01', 'Inopsio Edge Appliance', 'Rack-mounted edge security gateway', 1490.00, 'EUR'),
    ('INO-CORE-SUB', 'Inosec Core subscription', 'Yearly subscription, per site', 990.00, 'EUR'),
    ('INO-SUPPORT', 'Premium support', 'Business-hours support, yearly', 450.00, 'EUR')
ON CONFLICT (sku) DO NOTHING;
