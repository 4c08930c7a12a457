CREATE DATABASE IF NOT EXISTS `{{.Database}}`
COMMENT 'athena-usage: who uses Athena, how much they scan and what it costs'
