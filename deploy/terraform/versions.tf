# Terraform and provider versions. Plain resources only, no external modules: every
# resource this stack creates is visible in this folder.
#
# State: configure a remote backend before the first apply (it records the database
# endpoint and other details of the account), e.g. an S3 bucket with locking:
#
#   terraform {
#     backend "s3" {
#       bucket       = "my-terraform-state"
#       key          = "shelfwatch/prod.tfstate"
#       region       = "eu-west-1"
#       use_lockfile = true
#     }
#   }

terraform {
  required_version = ">= 1.6.0"

  required_providers {
    # Validated against 5.100; provider 6.x changed several resources used here, so it
    # is excluded until someone has checked this stack against it.
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    # Reads the EKS OIDC issuer's certificate for the IRSA identity provider.
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0, < 5.0"
    }
    # Generates the ElastiCache AUTH token (kept in Secrets Manager).
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5, < 4.0"
    }
    # Installs KEDA and metrics-server into the cluster (addons.tf). 2.x: the
    # `kubernetes { }` block syntax used there.
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.12, < 3.0"
    }
  }
}

provider "aws" {
  region = var.region

  # Every resource carries these, so cost reports and clean-ups can find the stack.
  default_tags {
    tags = merge(var.tags, {
      Project   = "shelfwatch"
      Stack     = var.name_prefix
      ManagedBy = "terraform"
    })
  }
}
