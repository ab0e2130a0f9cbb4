#!/usr/bin/env bash
# Dagster on ECS Fargate (infra/dagster-ecs.yaml), after the txviz stack (infra/template.yaml):
#
#   scripts/dagster-ecs.sh image      build the image from the Dockerfile and push it to ECR
#   scripts/dagster-ecs.sh deploy     create or update the Dagster stack with that image
#   scripts/dagster-ecs.sh ui         port-forward the Dagster UI to http://127.0.0.1:3000
#   scripts/dagster-ecs.sh teardown   delete the Dagster stack (--all: then the txviz stack too)
#
# Settings (environment): AWS_REGION (required), TXVIZ_STACK (txviz), DAGSTER_STACK
# (txviz-dagster), ECR_REPOSITORY (txviz-dagster), PLATFORM (linux/amd64 or linux/arm64),
# VPC_ID and SUBNET_IDS (comma-separated; default: the default VPC, with public IPs), and
# IMAGE_URI for deploy (default: the image `image` pushed last, from .txviz/dagster-image).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${AWS_REGION:?set AWS_REGION}"
export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION"
# The embedded stack's endpoint and fake keys must not leak into calls to AWS.
unset AWS_ENDPOINT_URL
TXVIZ_STACK=${TXVIZ_STACK:-txviz}
DAGSTER_STACK=${DAGSTER_STACK:-txviz-dagster}
ECR_REPOSITORY=${ECR_REPOSITORY:-txviz-dagster}
PLATFORM=${PLATFORM:-linux/amd64}
IMAGE_FILE=.txviz/dagster-image

stack_output() {  # stack output-key
  aws cloudformation describe-stacks --stack-name "$1" \
    --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text
}

cmd_image() {
  local account registry tag uri
  account=$(aws sts get-caller-identity --query Account --output text)
  registry="$account.dkr.ecr.$AWS_REGION.amazonaws.com"
  if ! aws ecr describe-repositories --repository-names "$ECR_REPOSITORY" >/dev/null 2>&1; then
    aws ecr create-repository --repository-name "$ECR_REPOSITORY" \
      --image-tag-mutability IMMUTABLE \
      --image-scanning-configuration scanOnPush=true \
      --encryption-configuration encryptionType=KMS >/dev/null
  fi
  # Immutable tags: the commit, plus a suffix when the work tree has uncommitted changes.
  tag=$(git rev-parse --short=12 HEAD)
  git diff --quiet HEAD || tag="$tag-dirty-$(date -u +%Y%m%d%H%M%S)"
  uri="$registry/$ECR_REPOSITORY:$tag"
  aws ecr get-login-password | docker login --username AWS --password-stdin "$registry"
  docker build --platform "$PLATFORM" -t "$uri" .
  docker push "$uri"
  mkdir -p "$(dirname "$IMAGE_FILE")"
  echo "$uri" >"$IMAGE_FILE"
  echo "image: $uri"
}

cmd_deploy() {
  local image policy bucket stream vpc subnets public_ip arch
  image=${IMAGE_URI:-$(cat "$IMAGE_FILE" 2>/dev/null || true)}
  [ -n "$image" ] || { echo "no image: run '$0 image' or set IMAGE_URI" >&2; exit 1; }
  policy=$(stack_output "$TXVIZ_STACK" PipelinePolicyArn)
  bucket=$(stack_output "$TXVIZ_STACK" BucketName)
  stream=$(stack_output "$TXVIZ_STACK" DeliveryStreamName)
  vpc=${VPC_ID:-}
  subnets=${SUBNET_IDS:-}
  public_ip=${ASSIGN_PUBLIC_IP:-DISABLED}
  if [ -z "$vpc" ]; then
    # The default VPC: public subnets, no NAT. Tasks get public IPs to reach AWS APIs; the
    # security groups still admit nothing from the internet.
    vpc=$(aws ec2 describe-vpcs --filters Name=is-default,Values=true \
      --query 'Vpcs[0].VpcId' --output text)
    [ "$vpc" != "None" ] || { echo "no default VPC: set VPC_ID and SUBNET_IDS" >&2; exit 1; }
    public_ip=${ASSIGN_PUBLIC_IP:-ENABLED}
  fi
  if [ -z "$subnets" ]; then
    subnets=$(aws ec2 describe-subnets --filters "Name=vpc-id,Values=$vpc" \
      --query 'Subnets[].SubnetId' --output text | tr '\t' ',')
  fi
  case "$PLATFORM" in *arm64) arch=ARM64 ;; *) arch=X86_64 ;; esac
  aws cloudformation deploy \
    --stack-name "$DAGSTER_STACK" \
    --template-file infra/dagster-ecs.yaml \
    --capabilities CAPABILITY_IAM \
    --parameter-overrides \
      "PipelinePolicyArn=$policy" "BucketName=$bucket" "DeliveryStreamName=$stream" \
      "ImageUri=$image" "CpuArchitecture=$arch" \
      "VpcId=$vpc" "SubnetIds=$subnets" "AssignPublicIp=$public_ip"
  aws ecs wait services-stable --cluster "$(stack_output "$DAGSTER_STACK" ClusterName)" \
    --services "$(stack_output "$DAGSTER_STACK" CodeServerServiceName)" \
    "$(stack_output "$DAGSTER_STACK" DaemonServiceName)" \
    "$(stack_output "$DAGSTER_STACK" WebserverServiceName)"
  echo "Dagster is up; open the UI with: $0 ui"
}

cmd_ui() {
  local cluster service task runtime
  cluster=$(stack_output "$DAGSTER_STACK" ClusterName)
  service=$(stack_output "$DAGSTER_STACK" WebserverServiceName)
  task=$(aws ecs list-tasks --cluster "$cluster" --service-name "$service" \
    --desired-status RUNNING --query 'taskArns[0]' --output text)
  [ "$task" != "None" ] || { echo "no running webserver task in $cluster" >&2; exit 1; }
  runtime=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" \
    --query "tasks[0].containers[?name=='webserver'].runtimeId | [0]" --output text)
  echo "Dagster UI: http://127.0.0.1:3000 (Ctrl-C closes the tunnel)"
  # Needs the Session Manager plugin for the AWS CLI. The webserver listens on 127.0.0.1 in its
  # task; the session reaches it from inside, so no port is open on the network.
  aws ssm start-session \
    --target "ecs:${cluster}_${task##*/}_${runtime}" \
    --document-name AWS-StartPortForwardingSession \
    --parameters '{"portNumber":["3000"],"localPortNumber":["3000"]}'
}

empty_versioned_bucket() {  # bucket
  local batch
  while :; do
    batch=$(aws s3api list-object-versions --bucket "$1" --max-items 300 --output json \
      --query '{Objects: [Versions, DeleteMarkers][][].{Key: Key, VersionId: VersionId}}')
    [ "$(echo "$batch" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Objects"] or []))')" != 0 ] || break
    aws s3api delete-objects --bucket "$1" --delete "$batch" >/dev/null
  done
}

cmd_teardown() {
  local all=0 bucket
  for arg in "$@"; do
    case "$arg" in
      --all) all=1 ;;
      *) echo "usage: $0 teardown [--all]" >&2; exit 2 ;;
    esac
  done
  if aws cloudformation describe-stacks --stack-name "$DAGSTER_STACK" >/dev/null 2>&1; then
    # Compute logs are operational output: the bucket is emptied so the stack can delete it.
    bucket=$(stack_output "$DAGSTER_STACK" ComputeLogBucketName)
    [ -z "$bucket" ] || [ "$bucket" = "None" ] || empty_versioned_bucket "$bucket"
    aws cloudformation delete-stack --stack-name "$DAGSTER_STACK"
    aws cloudformation wait stack-delete-complete --stack-name "$DAGSTER_STACK"
    echo "deleted $DAGSTER_STACK"
  fi
  if [ "$all" = 1 ]; then
    aws cloudformation delete-stack --stack-name "$TXVIZ_STACK"
    aws cloudformation wait stack-delete-complete --stack-name "$TXVIZ_STACK"
    echo "deleted $TXVIZ_STACK"
  fi
  cat <<EOF
Kept (delete by hand when no longer wanted):
  - the final snapshot of the Dagster database (aws rds describe-db-snapshots --snapshot-type manual)
  - the ECR repository $ECR_REPOSITORY and its images
  - the Dagster stack's KMS key (the snapshot is encrypted with it; schedule its deletion
    with the snapshot's)
EOF
  if [ "$all" = 1 ]; then
    cat <<EOF
  - the txviz bucket and its access-log bucket (versioned, retained with their data)
  - the card-history table, the card-token secret and the KMS key alias/txviz (retained:
    stored card tokens depend on the secret, and the table and secret on the key)
EOF
  fi
}

case "${1:-}" in
  image) cmd_image ;;
  deploy) cmd_deploy ;;
  ui) cmd_ui ;;
  teardown) shift; cmd_teardown "$@" ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
