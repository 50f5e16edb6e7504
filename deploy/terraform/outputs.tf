# What deploy/k8s needs from this stack (see deploy/README.md for where each goes).
# No secret is output: the database password stays in Secrets Manager.

output "region" {
  value = var.region
}

output "cluster_name" {
  description = "aws eks update-kubeconfig --region <region> --name <cluster_name>"
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  value = aws_eks_cluster.this.endpoint
}

output "ecr_repository_url" {
  description = "Image name for kustomization.yaml (images: newName)."
  value       = aws_ecr_repository.app.repository_url
}

output "bucket_name" {
  description = "S3_BUCKET in configmap.yaml."
  value       = aws_s3_bucket.photos.bucket
}

output "api_role_arn" {
  description = "eks.amazonaws.com/role-arn of the shelfwatch-api ServiceAccount."
  value       = aws_iam_role.api.arn
}

output "worker_role_arn" {
  description = "eks.amazonaws.com/role-arn of the shelfwatch-worker ServiceAccount."
  value       = aws_iam_role.worker.arn
}

output "db_endpoint" {
  description = "Host of DATABASE_URL (port 5432, database shelfwatch)."
  value       = aws_db_instance.this.address
}

output "db_master_user_secret_arn" {
  description = "Secrets Manager secret holding the RDS master credentials (rotated by RDS)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "redis_primary_endpoint" {
  description = "Host of REDIS_URL (rediss://<host>:6379/0?ssl_cert_reqs=required) and of REDIS_ADDRESS (<host>:6379)."
  value       = aws_elasticache_replication_group.broker.primary_endpoint_address
}

output "sqs_queue_urls" {
  description = "Queue URLs by Celery queue name (for BROKER_URL=sqs:// and KEDA's aws-sqs-queue trigger)."
  value       = { for k, q in aws_sqs_queue.main : k => q.url }
}

output "sqs_dead_letter_queue_urls" {
  value = { for k, q in aws_sqs_queue.dlq : k => q.url }
}

output "celery_sqs_queue_name_prefix" {
  description = "Celery SQS transport option queue_name_prefix matching the queue names."
  value       = "${var.name_prefix}-"
}

output "sqs_queue_url_prefix" {
  description = "SQS_QUEUE_URL_PREFIX for BROKER_URL=sqs://: each queue's URL is this plus its Celery name."
  value       = trimsuffix(aws_sqs_queue.main["audits"].url, "audits")
}

output "redis_auth_secret_arn" {
  description = "Secrets Manager secret holding the ElastiCache AUTH token (REDIS_URL = rediss://:TOKEN@HOST:6379/0)."
  value       = aws_secretsmanager_secret.redis_auth.arn
}

output "rescans_role_arn" {
  description = "eks.amazonaws.com/role-arn of the shelfwatch-worker-rescans ServiceAccount."
  value       = aws_iam_role.pool["rescans"].arn
}

output "webhooks_role_arn" {
  description = "eks.amazonaws.com/role-arn of the shelfwatch-worker-webhooks ServiceAccount."
  value       = aws_iam_role.pool["webhooks"].arn
}

output "beat_role_arn" {
  description = "eks.amazonaws.com/role-arn of the shelfwatch-beat ServiceAccount."
  value       = aws_iam_role.pool["beat"].arn
}
