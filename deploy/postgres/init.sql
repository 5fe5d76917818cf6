-- Runs once, when the PostgreSQL data volume is empty (docker-entrypoint-initdb.d).
-- One database per service; the services create their own tables on start.
CREATE DATABASE complaints_intake;
CREATE DATABASE complaints_routing;
CREATE DATABASE complaints_quality;
CREATE DATABASE complaints_billing;
CREATE DATABASE complaints_hq;
CREATE DATABASE complaints_analytics;
CREATE DATABASE complaints_notify;
