DROP TABLE IF EXISTS `{{.Database}}`.`{{.Table}}`
