# ShelfWatch on AWS: the places the farm keeps things (S3 photos, RDS Postgres, the
# ElastiCache Redis broker, SQS queues for the SQS broker option, ECR images) and where it
# runs (EKS with one managed node group), plus the two IAM roles the pods assume (IRSA).
#
# Network model: everything sits in the private subnets given; only the EKS API endpoint
# may be public (cluster_public_access_cidrs). The data stores accept connections only
# from the cluster's security group.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = var.name_prefix
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # "<issuer host>/id/<id>", the form IAM condition keys use for the OIDC provider.
  oidc_issuer = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")

  # The security group EKS creates for the cluster and attaches to managed nodes: the
  # one identity every pod's traffic to RDS and ElastiCache comes from.
  cluster_sg_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id

  main_queue_arns = [for q in aws_sqs_queue.main : q.arn]

  # The trust policy of a role an AWS service assumes (the cluster, its nodes, RDS monitoring).
  service_trust = { for svc in ["eks", "ec2", "monitoring.rds"] : svc => jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "${svc}.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  }) }
}

############################################################################################
# KMS: one customer key for the data at rest (photos, the database, Redis, the image)
############################################################################################

# The account administers each key of this stack (the default key policy, written out so it
# is reviewed); services use a key through their own grants, the pods through their IAM
# policies below.
locals {
  key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_kms_key" "data" {
  description             = "${local.name} data at rest: S3 photos, RDS, ElastiCache, ECR"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = local.key_policy
}

############################################################################################
# S3: the photos
############################################################################################

resource "aws_s3_bucket" "photos" {
  # checkov:skip=CKV2_AWS_62: nothing consumes bucket events: the gateway enqueues each job itself, after its commit
  # checkov:skip=CKV_AWS_144: cross-region replication is a disaster-recovery choice per deployment (cost); versioning covers mistakes
  # Bucket names are global; the account id keeps this one unique.
  bucket = "${local.name}-photos-${local.account_id}"
}

# Who read or wrote which photo: S3 server access logs, into a bucket of their own.
resource "aws_s3_bucket" "access_logs" {
  # checkov:skip=CKV_AWS_18: the access-log bucket does not log its own access (a loop)
  # checkov:skip=CKV2_AWS_62: nothing consumes the log bucket's events
  # checkov:skip=CKV_AWS_144: logs are not replicated across regions
  # checkov:skip=CKV_AWS_145: S3 server access logging delivers only to SSE-S3 buckets, not SSE-KMS
  # checkov:skip=CKV2_AWS_61: the lifecycle rule below expires the logs
  bucket = "${local.name}-access-logs-${local.account_id}"
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_logging" "photos" {
  bucket        = aws_s3_bucket.photos.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "photos/"
}

resource "aws_s3_bucket_public_access_block" "photos" {
  bucket                  = aws_s3_bucket.photos.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs off: access is decided by IAM policies alone.
resource "aws_s3_bucket_ownership_controls" "photos" {
  bucket = aws_s3_bucket.photos.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# Versioning: a photo overwritten or deleted by mistake (or by a bug) can be recovered for
# photo_noncurrent_days; audits are evidence for the customer.
resource "aws_s3_bucket_versioning" "photos" {
  bucket = aws_s3_bucket.photos.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Encryption at rest with the stack's key (key-level audit and revocation); the pods'
# policies allow that key's data-key calls. Bucket keys keep the KMS request count low.
resource "aws_s3_bucket_server_side_encryption_configuration" "photos" {
  bucket = aws_s3_bucket.photos.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "photos" {
  bucket = aws_s3_bucket.photos.id

  # Parts of multipart uploads that never completed are invisible but billed.
  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Versioning keeps every old version forever unless told otherwise.
  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.photo_noncurrent_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.photos]
}

# Refuse plain-HTTP access outright.
resource "aws_s3_bucket_policy" "photos" {
  bucket = aws_s3_bucket.photos.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.photos.arn, "${aws_s3_bucket.photos.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.photos]
}

############################################################################################
# SQS: one queue per Celery queue, each with a dead-letter queue (BROKER_URL=sqs://)
############################################################################################

# A message that keeps failing (e.g. it crashes the worker that takes it) lands here after
# max_receive_count deliveries instead of circling forever. Kept 14 days, the maximum.
resource "aws_sqs_queue" "dlq" {
  for_each = toset(var.queues)

  name                      = "${local.name}-${each.key}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "main" {
  for_each = toset(var.queues)

  # Celery finds these with the transport option queue_name_prefix = "<name_prefix>-".
  name = "${local.name}-${each.key}"

  # A received message is hidden this long; unacknowledged by then, it is delivered
  # again. Must exceed the longest batch (TASK_TIME_LIMIT_S) - the same rule as Redis.
  visibility_timeout_seconds = var.visibility_timeout_s
  message_retention_seconds  = 345600 # 4 days: outlasts a long weekend's outage
  receive_wait_time_seconds  = 20     # long polling: fewer empty receives
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })
}

############################################################################################
# ECR: the one image for every role
############################################################################################

resource "aws_ecr_repository" "app" {
  name = local.name

  # A tag always means the same image: deployments pin tags, and a rollback must bring
  # back exactly what ran before.
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.data.arn
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Untagged images (failed or superseded pushes) go after 7 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the last 50 images, enough to roll back a long way"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = 50
        }
        action = { type = "expire" }
      },
    ]
  })
}

############################################################################################
# EKS: the cluster and one managed node group
############################################################################################

resource "aws_iam_role" "cluster" {
  name               = "${local.name}-eks-cluster"
  assume_role_policy = local.service_trust["eks"]
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

# Kubernetes Secrets (DATABASE_URL among them) encrypted with a key of this stack.
resource "aws_kms_key" "eks" {
  description             = "${local.name} EKS secrets encryption"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = local.key_policy
}

# The cluster role may use that key (and nothing else beyond AmazonEKSClusterPolicy).
resource "aws_iam_role_policy" "cluster_kms" {
  name = "secrets-encryption"
  role = aws_iam_role.cluster.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
      Resource = [aws_kms_key.eks.arn]
    }]
  })
}

resource "aws_eks_cluster" "this" {
  name     = local.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  vpc_config {
    subnet_ids              = var.private_subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = length(var.cluster_public_access_cidrs) > 0
    public_access_cidrs     = length(var.cluster_public_access_cidrs) > 0 ? var.cluster_public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.eks.arn
    }
  }

  # every control-plane log type, to CloudWatch Logs
  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  depends_on = [
    aws_iam_role_policy_attachment.cluster,
    aws_iam_role_policy.cluster_kms,
  ]
}

# The VPC CNI as a managed add-on, with its network policy agent switched on: without it
# the NetworkPolicies in deploy/k8s are accepted by the API server but not enforced.
resource "aws_eks_addon" "vpc_cni" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "vpc-cni"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  configuration_values = jsonencode({
    enableNetworkPolicy = "true"
  })
}

resource "aws_iam_role" "node" {
  name               = "${local.name}-eks-node"
  assume_role_policy = local.service_trust["ec2"]
}

# The three policies a managed node needs: join the cluster, run the VPC CNI, pull images.
# The application's own AWS access is NOT here: pods get it from their IRSA roles below,
# so a compromised pod on the node does not inherit the node's role.
resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

resource "aws_eks_node_group" "default" {
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "${local.name}-default"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.private_subnet_ids
  instance_types  = var.node_instance_types
  capacity_type   = "ON_DEMAND"
  ami_type        = "AL2023_x86_64_STANDARD"
  disk_size       = 50

  scaling_config {
    min_size     = var.node_min_size
    desired_size = var.node_desired_size
    max_size     = var.node_max_size
  }

  update_config {
    max_unavailable = 1
  }

  # The cluster autoscaler moves desired_size; a later apply must not undo its work.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}

# IRSA: lets pods exchange their ServiceAccount token for an IAM role's credentials.
data "tls_certificate" "eks_oidc" {
  url = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

resource "aws_iam_openid_connect_provider" "eks" {
  url             = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.eks_oidc.certificates[0].sha1_fingerprint]
}

############################################################################################
# Data stores' network: reachable from the cluster only
############################################################################################

resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "ShelfWatch Postgres: from the EKS cluster only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_cluster" {
  security_group_id            = aws_security_group.db.id
  description                  = "Postgres from EKS pods and nodes"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = local.cluster_sg_id
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-redis"
  description = "ShelfWatch Redis broker: from the EKS cluster only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_cluster" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis (TLS) from EKS pods, nodes and the KEDA operator"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = local.cluster_sg_id
}

############################################################################################
# RDS Postgres: audits, jobs, results
############################################################################################

resource "aws_db_subnet_group" "this" {
  name       = "${local.name}-db"
  subnet_ids = var.private_subnet_ids
}

resource "aws_db_instance" "this" {
  identifier     = "${local.name}-db"
  engine         = "postgres"
  engine_version = "16"
  instance_class = var.db_instance_class

  db_name  = "shelfwatch"
  username = "shelfwatch"
  # RDS generates the password, stores it in Secrets Manager and rotates it: it never
  # appears in this configuration, the state or a variable.
  manage_master_user_password = true

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az

  backup_retention_period    = 7
  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true
  deletion_protection        = var.deletion_protection
  skip_final_snapshot        = !var.deletion_protection
  final_snapshot_identifier  = var.deletion_protection ? "${local.name}-db-final" : null

  kms_key_id           = aws_kms_key.data.arn
  parameter_group_name = aws_db_parameter_group.this.name

  # What it does: slow statements and DDL in its log (exported to CloudWatch Logs with
  # the upgrade log), Performance Insights and enhanced monitoring every 60 s.
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.data.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  # IAM database authentication on, for people (psql with a token); the application
  # keeps its password from Secrets Manager.
  iam_database_authentication_enabled = true

  # Postgres 16 on RDS requires TLS by default (rds.force_ssl = 1): use sslmode=require
  # in DATABASE_URL.
}

resource "aws_db_parameter_group" "this" {
  name   = "${local.name}-postgres16"
  family = "postgres16"

  parameter {
    name  = "rds.force_ssl" # TLS only (the default on 16, stated here)
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "500" # ms: the slow statements
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${local.name}-rds-monitoring"
  assume_role_policy = local.service_trust["monitoring.rds"]
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

############################################################################################
# ElastiCache Redis: the Celery broker
############################################################################################

resource "aws_elasticache_subnet_group" "this" {
  name       = "${local.name}-redis"
  subnet_ids = var.private_subnet_ids
}

# A broker must never evict: an evicted key is a queued job (or the unacked bookkeeping of
# one) silently gone. The default policy evicts keys with a TTL; Celery's keys have none,
# so "noeviction" mainly makes the rule explicit and makes a full Redis fail loudly on
# write instead.
resource "aws_elasticache_parameter_group" "broker" {
  name   = "${local.name}-broker"
  family = "redis7"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "aws_elasticache_replication_group" "broker" {
  replication_group_id = "${local.name}-redis"
  description          = "ShelfWatch Celery broker"
  engine               = "redis"
  engine_version       = "7.1"
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.broker.name
  subnet_group_name    = aws_elasticache_subnet_group.this.name
  security_group_ids   = [aws_security_group.redis.id]

  # Primary and one replica in another zone, with automatic failover.
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true

  # TLS between pods and Redis (rediss:// in REDIS_URL, enableTLS in the KEDA trigger),
  # and encrypted at rest.
  transit_encryption_enabled = true
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.data.arn
  # AUTH: a token generated here and kept in Secrets Manager (redis_auth_secret_arn);
  # REDIS_URL becomes rediss://:TOKEN@HOST:6379/0
  auth_token = random_password.redis_auth.result

  snapshot_retention_limit = 1
  apply_immediately        = false
}

resource "random_password" "redis_auth" {
  length  = 64
  special = false # ElastiCache allows only some printable characters; letters and digits are safe
}

resource "aws_secretsmanager_secret" "redis_auth" {
  # checkov:skip=CKV2_AWS_57: ElastiCache rotates an AUTH token only through modify-replication-group (ROTATE, then SET); deploy/README.md has the procedure, no rotation Lambda here
  name       = "${local.name}/redis-auth-token"
  kms_key_id = aws_kms_key.data.arn
}

resource "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id     = aws_secretsmanager_secret.redis_auth.id
  secret_string = random_password.redis_auth.result
}

############################################################################################
# IAM roles for the pods (IRSA): one for the gateway, one for the workers
############################################################################################

locals {
  # Trust: only the named ServiceAccount in the ShelfWatch namespace of this cluster.
  irsa_trust = {
    for role, sa in {
      api      = var.api_service_account
      worker   = var.worker_service_account
      rescans  = var.rescans_service_account
      webhooks = var.webhooks_service_account
      beat     = var.beat_service_account
    } :
    role => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Federated = aws_iam_openid_connect_provider.eks.arn }
        Action    = "sts:AssumeRoleWithWebIdentity"
        Condition = {
          StringEquals = {
            "${local.oidc_issuer}:sub" = "system:serviceaccount:${var.k8s_namespace}:${sa}"
            "${local.oidc_issuer}:aud" = "sts.amazonaws.com"
          }
        }
      }]
    })
  }
}

# Statements both roles need.
#   s3:ListBucket: /readyz does HeadBucket, and it makes S3 answer 404 (NoSuchKey) rather
#     than 403 for a missing photo - the worker treats NoSuchKey as a permanent failure
#     and AccessDenied as transient, so without it a missing photo is retried in vain.
#   sqs:ListQueues: Celery's SQS transport lists queues by prefix to find their URLs (an
#     account-level action, no resource scoping). Drop it once the app configures
#     predefined_queues.
locals {
  common_statements = [
    {
      Sid      = "PhotoBucketList"
      Effect   = "Allow"
      Action   = ["s3:ListBucket"]
      Resource = [aws_s3_bucket.photos.arn]
    },
    {
      Sid      = "FindQueues"
      Effect   = "Allow"
      Action   = ["sqs:ListQueues"]
      Resource = ["*"]
    },
    {
      Sid      = "PhotoKey" # the photos are SSE-KMS with the stack's key
      Effect   = "Allow"
      Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource = [aws_kms_key.data.arn]
    },
  ]
}

resource "aws_iam_role" "api" {
  name               = "${local.name}-api"
  description        = "ShelfWatch gateway pods (IRSA)"
  assume_role_policy = local.irsa_trust["api"]
}

# The gateway stores photos, reads them back for annotated results, and enqueues jobs.
# It never receives or deletes messages.
resource "aws_iam_role_policy" "api" {
  name = "shelfwatch-api"
  role = aws_iam_role.api.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.common_statements, [
      {
        Sid      = "PhotosReadWrite"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject"]
        Resource = ["${aws_s3_bucket.photos.arn}/*"]
      },
      {
        Sid      = "Enqueue"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
        Resource = local.main_queue_arns
      },
    ])
  })
}

resource "aws_iam_role" "worker" {
  name               = "${local.name}-worker"
  description        = "ShelfWatch inference worker pods (IRSA)"
  assume_role_policy = local.irsa_trust["worker"]
}

# The workers read photos (never write them), consume messages, and re-send a job after
# a transient failure. GetQueueAttributes also serves KEDA's aws-sqs-queue trigger with
# identityOwner: workload.
resource "aws_iam_role_policy" "worker" {
  name = "shelfwatch-worker"
  role = aws_iam_role.worker.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.common_statements, [
      {
        Sid      = "PhotosRead"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["${aws_s3_bucket.photos.arn}/*"]
      },
      {
        Sid      = "Consume" # the audits pool: its own queue only
        Effect   = "Allow"
        Action   = local.consume
        Resource = [local.queue_arn["audits"]]
      },
      {
        Sid      = "Send" # a job again after transient trouble; webhook deliveries of finished audits
        Effect   = "Allow"
        Action   = local.send
        Resource = [local.queue_arn["audits"], local.queue_arn["webhooks"]]
      },
    ])
  })
}

# The other pools and beat, each with only what its tasks do (workers/app.py):
#   rescans:  re-scan batches read photos, consume `rescans`, send deliveries to `webhooks`
#   webhooks: deliveries and beat's bookkeeping (dispatch, re-scan feed and nightly start, the
#             reaper of lost jobs) consume `webhooks` and send to all three queues; it reads
#             the model registry (models/*), never a photo
#   beat:     sends the scheduled tasks to `webhooks` and `audits`; receives nothing
locals {
  queue_arn = { for q, queue in aws_sqs_queue.main : q => queue.arn }
  consume   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
  send      = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
  pool_policies = {
    rescans = [
      { Sid = "PhotosRead", Effect = "Allow", Action = ["s3:GetObject"], Resource = ["${aws_s3_bucket.photos.arn}/*"] },
      { Sid = "Consume", Effect = "Allow", Action = local.consume, Resource = [local.queue_arn["rescans"]] },
      { Sid = "Send", Effect = "Allow", Action = local.send, Resource = [local.queue_arn["rescans"], local.queue_arn["webhooks"]] },
    ]
    webhooks = [
      # the nightly re-scan reads which version serves (models/registry.json); no photos
      { Sid = "ModelRegistryRead", Effect = "Allow", Action = ["s3:GetObject"], Resource = ["${aws_s3_bucket.photos.arn}/models/*"] },
      { Sid = "Consume", Effect = "Allow", Action = local.consume, Resource = [local.queue_arn["webhooks"]] },
      { Sid = "Send", Effect = "Allow", Action = local.send, Resource = local.main_queue_arns },
    ]
    beat = [
      { Sid = "Send", Effect = "Allow", Action = local.send, Resource = [local.queue_arn["webhooks"], local.queue_arn["audits"]] },
    ]
  }
}

resource "aws_iam_role" "pool" {
  for_each           = local.pool_policies
  name               = "${local.name}-${each.key}"
  description        = "ShelfWatch ${each.key} pods (IRSA)"
  assume_role_policy = local.irsa_trust[each.key]
}

resource "aws_iam_role_policy" "pool" {
  for_each = local.pool_policies
  name     = "shelfwatch-${each.key}"
  role     = aws_iam_role.pool[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat(local.common_statements, each.value)
  })
}
