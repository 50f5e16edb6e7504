# Inputs. The network is brought, not built: pass the VPC and its private subnets.
# Nothing here is a secret; the database password is generated and kept by RDS in
# Secrets Manager (manage_master_user_password).

variable "region" {
  description = "AWS region for every resource, e.g. eu-west-1."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name, e.g. shelfwatch-prod. Lowercase letters, digits and hyphens."
  type        = string
  default     = "shelfwatch-prod"

  validation {
    # ElastiCache replication group ids are at most 40 characters; "-redis" is appended.
    condition     = can(regex("^[a-z][a-z0-9-]{1,32}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3-34 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# --- network ---------------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC to deploy into."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (at least two availability zones) for the EKS nodes, RDS and ElastiCache. They need a route to the internet (NAT) or VPC endpoints for ECR, S3, SQS and STS."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "Give at least two private subnets in different availability zones (EKS, RDS and ElastiCache all require it)."
  }
}

variable "cluster_public_access_cidrs" {
  description = "CIDRs allowed to reach the EKS API endpoint from the internet. Empty: the endpoint is private only (reach it from inside the VPC: VPN, bastion, CI runner)."
  type        = list(string)
  default     = []
}

# --- EKS -------------------------------------------------------------------------------

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.31"
}

variable "node_instance_types" {
  description = "Instance types of the node group. A worker pod requests 2 vCPU and 2 GiB (2 inference processes x 1 thread), so 8-vCPU compute-optimised nodes fit three workers next to the system pods."
  type        = list(string)
  default     = ["c6i.2xlarge"]
}

variable "node_min_size" {
  description = "Fewest nodes."
  type        = number
  default     = 2
}

variable "node_desired_size" {
  description = "Nodes at creation. Later changes come from the cluster autoscaler; Terraform ignores drift here."
  type        = number
  default     = 2
}

variable "node_max_size" {
  description = "Most nodes; with KEDA's maxReplicaCount this bounds the farm."
  type        = number
  default     = 8
}

variable "k8s_namespace" {
  description = "Kubernetes namespace of ShelfWatch (deploy/k8s/namespace.yaml)."
  type        = string
  default     = "shelfwatch"
}

variable "api_service_account" {
  description = "ServiceAccount of the gateway pods (deploy/k8s/api-deployment.yaml)."
  type        = string
  default     = "shelfwatch-api"
}

variable "worker_service_account" {
  description = "ServiceAccount of the audits pool's pods (deploy/k8s/worker-deployment.yaml)."
  type        = string
  default     = "shelfwatch-worker"
}

variable "rescans_service_account" {
  description = "ServiceAccount of the re-scan pool's pods (deploy/k8s/rescans-worker-deployment.yaml)."
  type        = string
  default     = "shelfwatch-worker-rescans"
}

variable "webhooks_service_account" {
  description = "ServiceAccount of the webhooks pool's pods (deploy/k8s/webhooks-worker-deployment.yaml)."
  type        = string
  default     = "shelfwatch-worker-webhooks"
}

variable "beat_service_account" {
  description = "ServiceAccount of beat's pod (deploy/k8s/beat-deployment.yaml)."
  type        = string
  default     = "shelfwatch-beat"
}

# --- data stores -----------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage_gb" {
  description = "Initial RDS storage in GiB; storage autoscaling may grow it up to db_max_allocated_storage_gb."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage_gb" {
  description = "Upper bound of RDS storage autoscaling, in GiB."
  type        = number
  default     = 200
}

variable "db_multi_az" {
  description = "Run RDS with a standby in a second availability zone."
  type        = bool
  default     = true
}

variable "redis_node_type" {
  description = "ElastiCache node type. The broker holds job ids only, so a small node goes far."
  type        = string
  default     = "cache.t4g.small"
}

variable "deletion_protection" {
  description = "Protect the database from `terraform destroy` and take a final snapshot. Turn off only for throw-away stacks."
  type        = bool
  default     = true
}

# --- queues and storage ----------------------------------------------------------------

variable "queues" {
  description = "Celery queues to create in SQS (used when BROKER_URL=sqs://)."
  type        = list(string)
  default     = ["audits", "rescans", "webhooks"]
}

variable "visibility_timeout_s" {
  description = "SQS visibility timeout; keep it equal to the app's VISIBILITY_TIMEOUT_S (above TASK_TIME_LIMIT_S)."
  type        = number
  default     = 3600
}

variable "max_receive_count" {
  description = "Deliveries of one message before SQS moves it to the queue's dead-letter queue."
  type        = number
  default     = 5
}

variable "photo_noncurrent_days" {
  description = "Days an overwritten or deleted photo version is kept (the bucket is versioned) before it expires."
  type        = number
  default     = 30
}

variable "access_log_days" {
  description = "Days the photo bucket's S3 access logs are kept."
  type        = number
  default     = 90
}

variable "keda_chart_version" {
  description = "KEDA Helm chart version (addons.tf); the ScaledObjects use keda.sh/v1alpha1 with the postgresql trigger."
  type        = string
  default     = "2.16.1"
}

variable "metrics_server_chart_version" {
  description = "metrics-server Helm chart version (addons.tf), for the gateway's HPA on CPU."
  type        = string
  default     = "3.12.2"
}
